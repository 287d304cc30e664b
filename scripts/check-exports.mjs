// Checks that package.json#exports, the built files and the README agree:
// every export has `types` and `default`, both exist in dist/, and the README
// names every public subpath. Run after `npm run build`.
import { existsSync, readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const problems = [];

if (pkg.type !== 'module') problems.push('package.json: "type" must be "module"');
if (pkg.sideEffects !== false) problems.push('package.json: "sideEffects" must be false');
for (const [subpath, target] of Object.entries(pkg.exports)) {
  if (subpath === './package.json') continue;
  if (typeof target !== 'object' || target === null) {
    problems.push(`exports["${subpath}"] must be an object with "types" and "default"`);
    continue;
  }
  for (const condition of ['types', 'default']) {
    const file = target[condition];
    if (typeof file !== 'string') problems.push(`exports["${subpath}"] lacks "${condition}"`);
    else if (!existsSync(new URL(`../${file}`, import.meta.url))) {
      problems.push(
        `exports["${subpath}"].${condition} -> ${file} does not exist (run npm run build)`,
      );
    }
  }
  const name = subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`;
  if (!readme.includes(`'${name}'`))
    problems.push(`README.md never shows an import from '${name}'`);
}
for (const [bin, file] of Object.entries(pkg.bin ?? {})) {
  if (!existsSync(new URL(`../${file}`, import.meta.url)))
    problems.push(`bin ${bin} -> ${file} does not exist`);
  else if (
    !readFileSync(new URL(`../${file}`, import.meta.url), 'utf8').startsWith('#!/usr/bin/env node')
  ) {
    problems.push(`bin ${bin} -> ${file} lacks a #!/usr/bin/env node line`);
  }
}

if (problems.length > 0) {
  console.error(`check-exports: ${problems.length} problem(s)\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(
  `check-exports: ${Object.keys(pkg.exports).length} exports and ${Object.keys(pkg.bin ?? {}).length} bin agree with dist/ and README.md`,
);
