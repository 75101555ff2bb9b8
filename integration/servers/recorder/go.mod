module spanwire.test/recorder

go 1.22
