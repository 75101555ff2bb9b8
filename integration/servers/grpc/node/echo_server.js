'use strict';
// spanwire.test.Echo gRPC test server (@grpc/grpc-js, hand-written service
// definition, no .proto loading).
//
//   node echo_server.js --port 0
//
// Prints "listening on 127.0.0.1:PORT" once the server is bound.

const grpc = require('@grpc/grpc-js');
const ec = require('./echo_common');

/** A command asked for an error status. */
class Failed extends Error {
  constructor(code, details) {
    super(details);
    this.code = code;
    this.details = details;
  }
}

/** Applies a command: resolves to the reply, rejects with Failed. */
function run(cmd, call) {
  if (cmd === 'ok') return Promise.resolve('ok');
  if (cmd === 'not_found') return Promise.reject(new Failed(grpc.status.NOT_FOUND, ec.NOT_FOUND_MESSAGE));
  if (cmd === 'internal') return Promise.reject(new Failed(grpc.status.INTERNAL, ec.INTERNAL_MESSAGE));
  if (cmd.startsWith('sleep:')) {
    const ms = ec.bounded(cmd.slice(6), ec.MAX_SLEEP_MS);
    if (ms !== null) {
      // Wakes early when the call is cancelled or its deadline passes.
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve('ok'), ms);
        call.on('cancelled', () => {
          clearTimeout(timer);
          resolve('ok');
        });
      });
    }
  }
  if (cmd.startsWith('big:')) {
    const n = ec.bounded(cmd.slice(4), ec.MAX_BIG);
    if (n !== null) return Promise.resolve('x'.repeat(n));
  }
  return Promise.reject(new Failed(grpc.status.INVALID_ARGUMENT, `unknown command: ${cmd}`));
}

/** Ends a streaming call with the status of `err` (a Failed or any error). */
function fail(call, err) {
  if (err instanceof Failed) {
    call.emit('error', { code: err.code, details: err.details });
  } else {
    call.emit('error', { code: grpc.status.UNKNOWN, details: String(err) });
  }
}

const handlers = {
  Unary(call, callback) {
    run(call.request, call).then(
      (reply) => callback(null, reply),
      (err) => callback({ code: err.code, details: err.details }),
    );
  },

  async ServerStream(call) {
    const plan = ec.parseStream(call.request);
    try {
      if (plan === null) {
        call.write(await run(call.request, call));
      } else {
        for (let i = 1; i <= plan.count; i++) call.write(ec.streamReply(i));
        if (plan.final !== null) await run(plan.final, call);
      }
      call.end();
    } catch (err) {
      fail(call, err);
    }
  },

  ClientStream(call, callback) {
    // Commands are applied in order; the first failure decides the status.
    let received = 0;
    let failure = null;
    let chain = Promise.resolve();
    call.on('data', (msg) => {
      received += 1;
      if (ec.isClientMessage(msg)) return;
      chain = chain
        .then(() => (failure === null ? run(msg, call) : null))
        .catch((err) => {
          failure = err;
        });
    });
    call.on('end', () => {
      chain.then(() => {
        if (failure === null) callback(null, `received ${received}`);
        else callback({ code: failure.code, details: failure.details });
      });
    });
  },

  Bidi(call) {
    // Replies go out in request order, so commands are applied one at a time.
    let chain = Promise.resolve();
    let failed = false;
    call.on('data', (msg) => {
      chain = chain.then(async () => {
        if (failed) return;
        try {
          call.write(ec.isClientMessage(msg) ? `echo ${msg}` : await run(msg, call));
        } catch (err) {
          failed = true;
          fail(call, err);
        }
      });
    });
    call.on('end', () => {
      chain.then(() => {
        if (!failed) call.end();
      });
    });
  },
};

function serviceDefinition() {
  const def = {};
  for (const method of ec.METHODS) {
    def[method] = {
      path: ec.fullMethod(method),
      requestStream: method === 'ClientStream' || method === 'Bidi',
      responseStream: method === 'ServerStream' || method === 'Bidi',
      requestSerialize: ec.encode,
      requestDeserialize: ec.decode,
      responseSerialize: ec.encode,
      responseDeserialize: ec.decode,
      originalName: method,
    };
  }
  return def;
}

function main() {
  const args = process.argv.slice(2);
  let port = 0;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--port' && i + 1 < args.length && /^[0-9]+$/.test(args[i + 1])) {
      port = Number(args[++i]);
    } else {
      console.error('usage: node echo_server.js [--port PORT]');
      process.exit(2);
    }
  }
  const server = new grpc.Server();
  server.addService(serviceDefinition(), handlers);
  server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
    if (err) {
      console.error(`bind 127.0.0.1:${port}: ${err.message}`);
      process.exit(1);
    }
    process.stdout.write(`listening on 127.0.0.1:${bound}\n`);
  });
}

main();
