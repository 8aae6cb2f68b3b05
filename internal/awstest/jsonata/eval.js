// eval.js evaluates JSONata expressions for internal/awstest with the
// reference implementation (the jsonata package pinned in package-lock.json,
// version 2.0.6: the version Step Functions implements, per "Transforming data
// with JSONata in Step Functions" in the Step Functions developer guide).
//
// Protocol: one JSON request per line on stdin,
//   {"id": 1, "expr": "$states.input.a", "bindings": {"states": {...}, "x": 1}}
// one JSON answer per line on stdout, in order,
//   {"id": 1, "value": ...}            (value absent when the result is undefined)
//   {"id": 1, "error": {"code": "T2001", "message": "..."}}
'use strict';
const jsonata = require('jsonata');
const readline = require('readline');

// Step Functions adds $parse (and has no $eval); the others it adds
// ($partition, $range, $hash, $random, $uuid) are not used by Panda's definition.
function withStepFunctions(expr) {
  expr.registerFunction('parse', (s) => JSON.parse(s), '<s:x>');
  return expr;
}

const rl = readline.createInterface({ input: process.stdin, terminal: false });
let chain = Promise.resolve();
rl.on('line', (line) => {
  chain = chain.then(async () => {
    let req;
    try {
      req = JSON.parse(line);
    } catch (e) {
      process.stdout.write(JSON.stringify({ id: -1, error: { code: 'protocol', message: String(e) } }) + '\n');
      return;
    }
    let answer;
    try {
      const value = await withStepFunctions(jsonata(req.expr)).evaluate(null, req.bindings || {});
      answer = { id: req.id };
      if (value !== undefined) {
        if (typeof value === 'function') {
          throw { code: 'function', message: 'the expression evaluates to a function' };
        }
        answer.value = value;
      }
    } catch (e) {
      answer = { id: req.id, error: { code: String(e.code || 'error'), message: String(e.message || e) } };
    }
    process.stdout.write(JSON.stringify(answer) + '\n');
  });
});
