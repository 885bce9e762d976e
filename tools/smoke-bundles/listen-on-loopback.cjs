// Preloaded (NODE_OPTIONS=--require) into a function the bundle smoke serves: the functions framework calls
// `server.listen(port, callback)`, which binds every interface, and has no host option. This binds such a listen to
// 127.0.0.1, so the smoke's servers stay on loopback; a listen that names its own host is left alone.
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
  return listen.apply(this, args);
};
