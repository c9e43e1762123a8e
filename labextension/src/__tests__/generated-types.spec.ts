/**
 * `src/generated/api.ts` is what `jlpm build:types` makes of `openapi.json`:
 * regenerate it with the same command and compare, so a schema change that
 * was not regenerated (or a hand edit of the generated file) fails here.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '../../..');
const GENERATED = 'labextension/src/generated/api.ts';

describe('generated API types', () => {
  it('match the OpenAPI snapshot', () => {
    const scripts = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts;
    const args: string[] = scripts['build:types'].split(/\s+/);
    expect(args[0]).toBe('openapi-typescript');
    const out = args.indexOf('--output');
    expect(args[out + 1]).toBe(GENERATED);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cubelab-types-'));
    try {
      args[out + 1] = path.join(tmp, 'api.ts');
      execFileSync(path.join(ROOT, 'node_modules/.bin/openapi-typescript'), args.slice(1), {
        cwd: ROOT,
        stdio: 'pipe'
      });
      const fresh = fs.readFileSync(args[out + 1], 'utf8');
      const committed = fs.readFileSync(path.join(ROOT, GENERATED), 'utf8');
      // run `jlpm build:types` and commit the result when this fails
      expect(committed).toEqual(fresh);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }, 120000);
});
