import { expect } from 'chai';
import { areaOf, bundledModules, locate } from '../../bench/harness/cpu-profile.js';

describe('bench: CPU profile locations', () => {
  it('reads which engine module each part of a bundled file of the build holds', () => {
    const source = [
      'import { x } from "./chunk.js";',
      '',
      '// dist/src/core/kernel/create-engine.js',
      'var a = 1;',
      '// dist/src/core/http/http-handler.js',
      'function handle() {}',
      '// a comment of the code itself',
      '//dist/src/not-a-marker.js',
    ].join('\n');
    expect(bundledModules(source)).to.deep.equal([
      { line: 2, module: 'src/core/kernel/create-engine.js' },
      { line: 4, module: 'src/core/http/http-handler.js' },
    ]);
    expect(bundledModules('export const one = 1;\n')).to.deep.equal([]);
  });

  it('places packages and Node modules as before', () => {
    expect(locate('file:///somewhere/node_modules/pg/lib/client.js', 9)).to.equal('node_modules/pg/lib/client.js:10');
    expect(areaOf(locate('file:///somewhere/node_modules/@inversifyjs/core/lib/index.js', 0))).to.equal('@inversifyjs/core');
    expect(locate('node:events', 3)).to.equal('node:events');
    expect(locate('', 0)).to.equal('(native)');
  });
});
