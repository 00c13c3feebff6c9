'use strict';
// Loads the napi-rs binding. The generated loader (js/binding/index.js) stays internal: the rest
// of the shim imports the engine from here, and users import from js/index.js.
let binding;
try {
  binding = require('./binding/index.js');
} catch (err) {
  const e = new Error(
    'sequelize-native-cache: the native engine could not be loaded. In a checkout, run `npm install` ' +
      '(it builds the Rust core with `napi build --release`); when installed from npm, make sure the ' +
      `platform package for ${process.platform}-${process.arch} is installed. Cause: ${err.message}`,
  );
  e.cause = err;
  throw e;
}

module.exports = binding;
