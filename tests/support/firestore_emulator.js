// Launches @firestore-emulator/server (npm) for the tests, bound to one interface only.
//
//   node tests/support/firestore_emulator.js [--host 127.0.0.1] [--port 0]
//
// The package's own FirestoreServer.start(port) binds 0.0.0.0, so this binds the inner gRPC server itself.
// Once listening it prints one JSON line, {"host": "...", "port": N}, on stdout (port 0 = pick a free port,
// so there is no race between choosing a port and binding it). It exits on SIGTERM/SIGINT and when its
// stdin closes, so the emulator never outlives the Python process that started it.
// Wire-level only: it does not isolate transactions (see shared/reference/firestore-node-emulator.md).
"use strict";

const path = require("node:path");

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

function resolve(name, from) {
  return require.resolve(name, { paths: from });
}

// The repository's node_modules (next to package.json), wherever the tests run from.
const emulatorMain = resolve("@firestore-emulator/server", [path.resolve(__dirname, "..", ".."), process.cwd()]);

const host = arg("host", "127.0.0.1");
const port = Number.parseInt(arg("port", "0"), 10);

const { FirestoreServer } = require(emulatorMain);
// The same @grpc/grpc-js copy the emulator uses, so the credentials object is one it accepts.
const grpc = require(resolve("@grpc/grpc-js", [path.dirname(emulatorMain)]));

const emulator = new FirestoreServer();
emulator.server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
  if (err) {
    process.stderr.write(`firestore emulator: cannot bind ${host}:${port}: ${err.message}\n`);
    process.exit(2);
  }
  process.stdout.write(`${JSON.stringify({ host, port: bound })}\n`);
});

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  try {
    emulator.stop();
  } finally {
    process.exit(0);
  }
}

process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.on("close", stop);
process.stdin.resume();
