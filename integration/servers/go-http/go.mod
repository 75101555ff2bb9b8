module spanwire.test/gohttp

go 1.22
