// Preloaded (`--require`) into a function that a test, the bundle smoke or a benchmark serves with the functions
// framework's own CLI (tools/loopback-port.ts reads what it reports): the framework calls `server.listen(port,
// callback)`, which binds every interface, and has no host option. This binds such a listen to 127.0.0.1, so those
// servers stay on loopback (a listen that names its own host is left alone), and reports `listening <port>` on stderr
// once bound, so that a caller can hand the framework PORT=0 and learn the port it got without racing another process
// for a free one.
'use strict';
const net = require('node:net');

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function listenOnLoopback(...args) {
  const [first, second] = args;
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof second !== 'string') args.splice(1, 0, '127.0.0.1');
  } else if (typeof first === 'object' && first !== null && first.port !== undefined && first.host === undefined && first.path === undefined) {
    args[0] = { ...first, host: '127.0.0.1' };
  }
  this.once('listening', () => process.stderr.write(`listening ${this.address().port}\n`));
  return listen.apply(this, args);
};
