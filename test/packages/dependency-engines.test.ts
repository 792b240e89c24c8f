/**
 * A runtime dependency that declares a newer Node.js than the engine's own minimum (content-type
 * 3.1 declared `node >=22` while the engine says `node >=20.11`) makes `npm install` warn on every
 * supported Node 20 (EBADENGINE) and fail outright where `engine-strict` is set. Every package the
 * engine or the connector installs must admit the Node.js versions the engine declares.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import semver from 'semver';

interface LockedPackage {
  readonly version?: string;
  readonly dev?: boolean;
  readonly engines?: { readonly node?: string } | readonly string[];
}

const root = new URL('../../', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8')) as { packages: Record<string, LockedPackage> };

describe('the Node.js versions the installed dependencies declare', () => {
  const supported = manifest.engines.node;

  it('the engine declares the Node.js it supports, from Node 20 on', () => {
    expect(semver.validRange(supported), supported).to.be.a('string');
    expect(semver.minVersion(supported)?.major).to.equal(20);
  });

  it('every runtime dependency admits the oldest Node.js the engine supports (else npm warns EBADENGINE on it, or refuses under engine-strict)', () => {
    const oldest = semver.minVersion(supported)!.version;
    const refusing = Object.entries(lock.packages)
      .filter(([path, locked]) => path !== '' && !locked.dev && !Array.isArray(locked.engines))
      .flatMap(([path, locked]) => {
        const node = (locked.engines as { node?: string } | undefined)?.node;
        return node !== undefined && semver.validRange(node) && !semver.satisfies(oldest, node) ? [`${path.replace(/^.*node_modules\//, '')}@${locked.version} needs node ${node}`] : [];
      });
    expect(refusing, `Node.js ${oldest} (the engine's minimum, ${supported})`).to.deep.equal([]);
  });
});
