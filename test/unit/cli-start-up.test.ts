import { readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

/**
 * `senshagen --help`, `senshagen devices list` and `senshagen query --help` start without loading every command's
 * implementation (cli/lazy-action.ts): what cli/senshagen.ts loads before commander parses the command line is
 * the closure of its static value imports (type-only imports are erased; `import()` in an action runs only when
 * the command does). Found by a trial: under load `senshagen services` took ~7 s to start because the entry
 * imported fastify, kafkajs, aedes, the InfluxDB client and the Parquet writers for every command.
 */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..')

/** Files (relative to the repository) and packages reachable from `entry` through static value imports. */
function staticClosure(entry: string): { files: string[]; packages: string[] } {
  const files = new Set<string>()
  const packages = new Set<string>()
  const visit = (file: string) => {
    if (files.has(file)) return
    files.add(file)
    const source = ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.ES2022)
    for (const statement of source.statements) {
      let specifier: string | undefined
      if (ts.isImportDeclaration(statement)) {
        const clause = statement.importClause
        const bindings = clause?.namedBindings
        const typeOnly = clause !== undefined && (clause.isTypeOnly || (clause.name === undefined && bindings !== undefined && ts.isNamedImports(bindings) && bindings.elements.length > 0 && bindings.elements.every((e) => e.isTypeOnly)))
        if (!typeOnly) specifier = (statement.moduleSpecifier as ts.StringLiteral).text
      } else if (ts.isExportDeclaration(statement) && statement.moduleSpecifier !== undefined && !statement.isTypeOnly) {
        specifier = (statement.moduleSpecifier as ts.StringLiteral).text
      }
      if (specifier === undefined) continue
      if (specifier.startsWith('.')) visit(relative(ROOT, join(ROOT, dirname(file), specifier)))
      else packages.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!)
    }
  }
  visit(entry)
  return { files: [...files].sort(), packages: [...packages].sort() }
}

describe('CLI start-up', () => {
  it('the entry loads commander and the commands\' names, descriptions and options, no implementation', () => {
    const { files, packages } = staticClosure('cli/senshagen.ts')
    // luxon: the reference sources' module (REFERENCE_SOURCE_NAMES for `reference fetch --source`) reads times with it
    expect(packages).toEqual(['commander', 'luxon', 'node:crypto', 'node:fs', 'node:path'])
    expect(files.filter((f) => f.startsWith('services/') || f.includes('/impl/') || f.startsWith('cli/commands/devices/'))).toEqual([])
  })
})
