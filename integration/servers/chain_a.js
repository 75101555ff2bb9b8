// Service A of the concurrent trace-linking test, in Node.js (one event loop):
// for GET /work/{id} it calls GET /b/{id} on --downstream-port with a keep-alive
// agent, propagating NO trace context, and answers 200.
// Prints "listening on 127.0.0.1:PORT" when ready.
'use strict';
const http = require('http');

const arg = (name) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const downstreamPort = Number(arg('--downstream-port'));
const agent = new http.Agent({ keepAlive: true });

const server = http.createServer((req, res) => {
  const m = /^\/work\/(.+)$/.exec(req.url);
  if (req.method !== 'GET' || !m) {
    res.writeHead(404).end();
    return;
  }
  const fail = (err) => res.writeHead(502).end(String(err));
  http
    .get({ host: '127.0.0.1', port: downstreamPort, path: `/b/${m[1]}`, agent }, (down) => {
      const chunks = [];
      down.on('data', (c) => chunks.push(c));
      down.on('end', () => res.writeHead(down.statusCode === 200 ? 200 : 502).end(Buffer.concat(chunks)));
      down.on('error', fail);
    })
    .on('error', fail);
});
server.listen(Number(arg('--port') || 0), '127.0.0.1', () => {
  console.log(`listening on 127.0.0.1:${server.address().port}`);
});
