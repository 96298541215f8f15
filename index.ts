// The Pulumi program's entry. Pulumi.yaml names no `main`, so the language host runs this folder:
// it requires the folder (this file, through package.json `main`) and looks for provider plugins
// under it — in this folder's node_modules, which is what `pulumi install` and air-gapped runners
// need. With `main` pointing into src/program, the host searched src/program and found none.
import program = require('./src/program/main.ts');

export = program;
