// What the Functions Framework's `main.js` does when Cloud Functions starts an
// instance (load the target with the framework's own loader, build the
// framework's own server, install its crash handlers), except that it listens
// on 127.0.0.1 port 0 instead of all interfaces on PORT, and reports the port
// on stderr as `listening <port>`. Plain JavaScript so that serving a bundle
// costs no TypeScript loader; the unbundled case adds `--import tsx` itself.
//
// Usage: node serve-function.cjs <framework build/src dir> <source> <target>
'use strict';
const [frameworkSrc, source, target] = process.argv.slice(2);
const { getUserFunction } = require(`${frameworkSrc}/loader.js`);
// Looked up when called, as `main.js` does: the function's module replaces it when it installs our changes.
const frameworkServer = require(`${frameworkSrc}/server.js`);
const { parseOptions } = require(`${frameworkSrc}/options.js`);
const { ErrorHandler } = require(`${frameworkSrc}/invoker.js`);

getUserFunction(source, target, 'http').then((loaded) => {
  if (!loaded) process.exit(1);
  const options = { ...parseOptions([], process.env), target, sourceLocation: source, signatureType: loaded.signatureType };
  const server = frameworkServer.getServer(loaded.userFunction, options);
  const errorHandler = new ErrorHandler(server);
  server
    .listen(0, '127.0.0.1', () => {
      errorHandler.register();
      process.stderr.write(`listening ${server.address().port}\n`);
    })
    .setTimeout(0);
});
