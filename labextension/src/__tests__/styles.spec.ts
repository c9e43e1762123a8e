/**
 * JupyterLab loads `style/index.js` (package.json's `styleModule`), not
 * `index.css`: a stylesheet missing there is never applied in the Lab (the
 * image picker's and the admin page's were not), so each of ours must be in both.
 */
import * as fs from 'fs';
import * as path from 'path';

const STYLE = path.resolve(__dirname, '../../style');

const imported = (file: string, pattern: RegExp): string[] =>
  Array.from(fs.readFileSync(path.join(STYLE, file), 'utf-8').matchAll(pattern), m => m[1]).sort();

describe('stylesheets', () => {
  const ours = fs
    .readdirSync(STYLE)
    .filter(f => f.endsWith('.css') && f !== 'index.css')
    .sort();

  it('are all loaded by the style module JupyterLab uses', () => {
    expect(imported('index.js', /^import '\.\/([^']+\.css)';$/gm)).toEqual(ours);
  });

  it('are all imported by index.css too', () => {
    expect(imported('index.css', /^@import url\('([^']+\.css)'\);$/gm)).toEqual(ours);
  });
});
