'use strict';
// Runs a plan of spanwire.test.Echo calls over ONE @grpc/grpc-js client (one
// HTTP/2 connection) and prints one JSON line per call, in plan order (format
// in ../README.md).
//
//   node echo_client.js --target 127.0.0.1:PORT \
//       --calls 'Unary:ok,ServerStream:n:5,Unary:sleep:300@deadline=100' [--concurrency N]
//
// grpc-js does not expose its socket, so local_port comes from /proc: the one
// ESTABLISHED TCP socket of this process whose peer is the target port.
// Exits 1 if the plan did not run over exactly one connection.

const fs = require('fs');
const grpc = require('@grpc/grpc-js');
const ec = require('./echo_common');

const MAX_REPLY_TEXT = 100;
const TCP_ESTABLISHED = '01';

function usage(msg) {
  console.error(`${msg}\nusage: node echo_client.js --target HOST:PORT --calls PLAN [--concurrency N]`);
  process.exit(2);
}

/** [{method, command, deadlineMs}]; "xN" repeats an item. */
function parsePlan(spec) {
  const plan = [];
  for (const item of spec.split(',')) {
    const words = item.trim().split(/\s+/).filter(Boolean);
    if (words.length === 0) continue;
    let repeat = 1;
    for (const opt of words.slice(1)) {
      if (!/^x[1-9][0-9]*$/.test(opt)) throw new Error(`bad option ${opt} in plan item ${item}`);
      repeat = Number(opt.slice(1));
    }
    const [text, opts] = words[0].split(/@(.*)/s);
    const colon = text.indexOf(':');
    const method = colon < 0 ? text : text.slice(0, colon);
    const command = colon < 0 ? '' : text.slice(colon + 1);
    if (!ec.METHODS.includes(method) || command === '') throw new Error(`plan item ${item} is not Method:command`);
    let deadlineMs = null;
    if (opts !== undefined) {
      if (!/^deadline=[1-9][0-9]*$/.test(opts)) throw new Error(`bad option ${opts} (want deadline=MS)`);
      deadlineMs = Number(opts.slice(9));
    }
    for (let i = 0; i < repeat; i++) plan.push({ method, command, deadlineMs });
  }
  if (plan.length === 0) throw new Error(`empty plan ${spec}`);
  return plan;
}

/** Local ports of this process's ESTABLISHED TCP sockets (v4 or v6) to remotePort. */
function localPortsTo(remotePort) {
  const inodes = new Set();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    let link;
    try {
      link = fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    if (link.startsWith('socket:[')) inodes.add(link.slice(8, -1));
  }
  const ports = new Set();
  for (const table of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    let text;
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== TCP_ESTABLISHED || !inodes.has(f[9])) continue;
      if (parseInt(f[2].split(':').pop(), 16) === remotePort) ports.add(parseInt(f[1].split(':').pop(), 16));
    }
  }
  return ports;
}

/** Starts one call; resolves to {replies, code, details}. */
function call(client, { method, command, deadlineMs }) {
  const options = deadlineMs === null ? {} : { deadline: Date.now() + deadlineMs };
  const path = ec.fullMethod(method);
  const meta = new grpc.Metadata();
  return new Promise((resolve) => {
    const replies = [];
    const done = (err) => resolve({ replies, code: err ? err.code : grpc.status.OK, details: err ? err.details : '' });
    const unaryDone = (err, reply) => {
      if (!err) replies.push(reply);
      done(err);
    };
    if (method === 'Unary') {
      client.makeUnaryRequest(path, ec.encode, ec.decode, command, meta, options, unaryDone);
      return;
    }
    if (method === 'ClientStream') {
      const stream = client.makeClientStreamRequest(path, ec.encode, ec.decode, meta, options, unaryDone);
      for (const m of ec.clientRequests(method, command)) stream.write(m);
      stream.end();
      return;
    }
    let stream;
    if (method === 'ServerStream') {
      stream = client.makeServerStreamRequest(path, ec.encode, ec.decode, command, meta, options);
    } else {
      stream = client.makeBidiStreamRequest(path, ec.encode, ec.decode, meta, options);
      for (const m of ec.clientRequests(method, command)) stream.write(m);
      stream.end();
    }
    stream.on('data', (reply) => replies.push(reply));
    stream.on('error', () => {}); // the status event carries the same code
    stream.on('status', (st) => done(st.code === grpc.status.OK ? null : st));
  });
}

async function main() {
  const args = process.argv.slice(2);
  const opts = { target: null, calls: 'Unary:ok', concurrency: 1 };
  for (let i = 0; i < args.length; i += 2) {
    const key = args[i].replace(/^--/, '');
    if (!(key in opts) || i + 1 >= args.length) usage(`bad argument ${args[i]}`);
    opts[key] = args[i + 1];
  }
  const concurrency = Number(opts.concurrency);
  if (!opts.target || !Number.isInteger(concurrency) || concurrency < 1) usage('need --target and --concurrency >= 1');
  let plan;
  try {
    plan = parsePlan(opts.calls);
  } catch (e) {
    usage(e.message);
  }
  const targetPort = Number(opts.target.split(':').pop());
  const client = new grpc.Client(opts.target, grpc.credentials.createInsecure());
  const seenPorts = new Set();

  const results = new Array(plan.length);
  let next = 0;
  async function worker() {
    while (next < plan.length) {
      const index = next++;
      const pc = plan[index];
      const start = process.hrtime.bigint() - hrtimeBase + epochBase;
      const { replies, code, details } = await call(client, pc);
      const end = process.hrtime.bigint() - hrtimeBase + epochBase;
      const ports = localPortsTo(targetPort);
      for (const p of ports) seenPorts.add(p);
      const last = replies.length ? replies[replies.length - 1].slice(0, MAX_REPLY_TEXT) : '';
      results[index] = {
        lang: 'node',
        index,
        method: `${ec.SERVICE}/${pc.method}`,
        command: pc.command,
        deadline_ms: pc.deadlineMs,
        code,
        status: grpc.status[code] ?? `CODE_${code}`,
        message: details ?? '',
        messages: replies.length,
        reply_bytes: replies.reduce((sum, r) => sum + r.length, 0),
        last_reply: last,
        start_unix_nano: `${start}`,
        end_unix_nano: `${end}`,
        local_port: ports.size === 1 ? [...ports][0] : null,
        pid: process.pid,
      };
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, plan.length) }, worker));
  for (const r of results) {
    // Unix nanos exceed 2^53: written as bare integers, not JSON strings.
    const line = JSON.stringify(r).replace(/"(start|end)_unix_nano":"([0-9]+)"/g, '"$1_unix_nano":$2');
    process.stdout.write(`${line}\n`);
  }
  client.close();
  if (seenPorts.size !== 1) {
    console.error(`expected exactly one connection, saw local ports ${[...seenPorts].sort()}`);
    process.exitCode = 1;
  }
}

// Wall clock with nanosecond resolution: Date.now() (ms) anchored once, then
// the monotonic high-resolution timer.
const epochBase = BigInt(Date.now()) * 1000000n;
const hrtimeBase = process.hrtime.bigint();

main();
