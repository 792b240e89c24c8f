import { InvalidApiDocumentError, pointerOf } from './api-document-error.js';
import { loadOverrides } from './api-overrides.js';
import { ArgumentValidator } from './argument-validator.js';
import { buildOperations } from './operation-builder.js';
import { OperationSearch } from './operation-search.js';
import { load, loadSync, type LoadedDocument } from './openapi-loader.js';
import type { ApiOperation } from './api-operation.js';
import type { ApiDocumentOptions } from './api-registry-options.js';

/**
 * The operations of every document of one registry, indexed for lookup and search. Loaded once
 * (when the plugin is declared, or while the engine boots for remote documents); read-only after.
 */
export class ApiCatalog {
  private state: { operations: readonly ApiOperation[]; byId: ReadonlyMap<string, ApiOperation>; search: OperationSearch } | undefined;
  private loading: Promise<void> | undefined;
  readonly validator = new ArgumentValidator();

  constructor(private readonly documents: readonly ApiDocumentOptions[]) {}

  loadSync(): void {
    this.index(this.documents.map((d, i) => loadSync(d.source, i)));
  }

  /** Load (fetching remote documents) unless already loaded. */
  load(): Promise<void> {
    if (this.state) return Promise.resolve();
    return (this.loading ??= (async () => {
      const loaded: LoadedDocument[] = [];
      for (const [i, d] of this.documents.entries()) loaded.push(await load(d.source, i));
      this.index(loaded);
    })());
  }

  private index(loaded: readonly LoadedDocument[]): void {
    const operations: ApiOperation[] = [];
    const byId = new Map<string, ApiOperation>();
    loaded.forEach((document, i) => {
      const options = this.documents[i]!;
      const overrides = options.overrides === undefined ? undefined : loadOverrides(options.overrides, document.label);
      for (const operation of buildOperations(document, overrides, options.baseUrl)) {
        const other = byId.get(operation.id);
        if (other) {
          throw new InvalidApiDocumentError(
            document.label,
            pointerOf(['paths', operation.path, operation.method.toLowerCase()]),
            `operation id "${operation.id}" is already used by ${other.method} ${other.path} of ${other.document}; give one an explicit operationId`,
          );
        }
        byId.set(operation.id, operation);
        operations.push(operation);
      }
    });
    this.state = { operations, byId, search: new OperationSearch(operations) };
  }

  private get ready(): NonNullable<ApiCatalog['state']> {
    if (!this.state) throw new Error('The API registry is used before its documents were loaded.');
    return this.state;
  }

  get operations(): readonly ApiOperation[] {
    return this.ready.operations;
  }

  get(id: string): ApiOperation | undefined {
    return this.ready.byId.get(id);
  }

  get search(): OperationSearch {
    return this.ready.search;
  }
}
