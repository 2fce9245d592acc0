// Builds the try-it page's copy of the client: one ES module, gateway/local_dev/static/token-client.js, which
// the gateway serves so `make run` needs no Node. The file is committed; tests/gateway/test_local_dev.py
// rebuilds it and fails when it is not current.
//
//   node clients/typescript/scripts/build-page-module.mjs [output path]
//
// The repo's pinned tsc (node_modules/.bin/tsc, strict, tsconfig.page.json) compiles src/ to ES modules in a
// temporary folder; this script then joins them in import order, dropping the relative imports and re-exports
// (a browser cannot resolve './errors' without a bundler). Top-level names must be unique across the files.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, '../../..')
const output = resolve(process.argv[2] ?? join(root, 'gateway/local_dev/static/token-client.js'))
const ts = createRequire(join(root, 'package.json'))('typescript')

const outDir = mkdtempSync(join(tmpdir(), 'token-client-page-'))
try {
  execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', join(root, 'clients/typescript/tsconfig.page.json'), '--outDir', outDir], {
    stdio: 'inherit',
  })
  const modules = new Map()
  for (const name of readdirSync(outDir).filter((n) => n.endsWith('.js')).sort()) {
    modules.set(name.replace(/\.js$/, ''), readFileSync(join(outDir, name), 'utf8'))
  }

  // Each module's text without its import declarations and `export ... from` re-exports, and what it imports.
  const parsed = new Map()
  for (const [name, text] of modules) {
    const file = ts.createSourceFile(`${name}.js`, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS)
    const deps = []
    let kept = ''
    let at = 0
    for (const statement of file.statements) {
      const from = statement.moduleSpecifier
      const isImport = ts.isImportDeclaration(statement)
      if (!isImport && !(ts.isExportDeclaration(statement) && from)) continue
      const spec = from.text
      if (!spec.startsWith('./')) throw new Error(`${name}.js imports ${spec}: only the client's own files can be joined`)
      if (isImport) deps.push(spec.slice(2).replace(/\.js$/, ''))
      kept += text.slice(at, statement.getStart(file))
      at = statement.end
    }
    kept += text.slice(at)
    parsed.set(name, { deps, text: kept.replace(/^export \{\};\n/m, '').trim() })
  }

  // Import order (a module after everything it imports), so classes exist before the code that extends them.
  const order = []
  const visiting = new Set()
  const visit = (name) => {
    if (order.includes(name)) return
    if (visiting.has(name)) throw new Error(`import cycle through ${name}`)
    if (!parsed.has(name)) throw new Error(`no compiled module ${name}`)
    visiting.add(name)
    parsed.get(name).deps.forEach(visit)
    visiting.delete(name)
    order.push(name)
  }
  ;[...parsed.keys()].forEach(visit)

  const header =
    '// GENERATED from clients/typescript/src by `node clients/typescript/scripts/build-page-module.mjs`: do not edit.\n' +
    `// TypeScript ${ts.version}; one ES module for the local try-it page (gateway/local_dev).\n`
  const body = order
    .filter((name) => parsed.get(name).text !== '')
    .map((name) => `// --- src/${name}.ts\n${parsed.get(name).text}\n`)
    .join('\n')
  const joined = `${header}\n${body}`

  // One module scope now: a name declared twice would be a SyntaxError in the browser; say which here.
  const seen = new Map()
  const check = ts.createSourceFile('joined.js', joined, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS)
  for (const statement of check.statements) {
    const names = ts.isVariableStatement(statement)
      ? statement.declarationList.declarations.map((d) => d.name.getText(check))
      : statement.name
        ? [statement.name.getText(check)]
        : []
    for (const n of names) {
      if (seen.has(n)) throw new Error(`top-level name ${n} is declared twice when the files are joined`)
      seen.set(n, true)
    }
  }
  writeFileSync(output, joined)
  console.log(`wrote ${relative(process.cwd(), output) || output} (${order.join(', ')})`)
} finally {
  rmSync(outDir, { recursive: true, force: true })
}
