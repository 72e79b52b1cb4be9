import type { ConnectionLike } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../searchAttributes';

const INDEXED_VALUE_TYPE = temporal.api.enums.v1.IndexedValueType;
/** gRPC status codes (stable numbers of the gRPC spec). */
const grpcStatus = { ALREADY_EXISTS: 6, PERMISSION_DENIED: 7, UNIMPLEMENTED: 12 } as const;

/**
 * Registers our search attributes when the namespace lacks them, so a plain dev server plus a
 * worker works with no other step, and a destination can be created before any worker started.
 * Without the right, the error names the operator's command. Takes a worker's or a client's
 * connection.
 */
export async function ensureSearchAttributes(
  connection: Pick<ConnectionLike, 'operatorService'>,
  namespace: string,
): Promise<void> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = { ...existing.customAttributes, ...existing.systemAttributes };
  const missing = Object.keys(SEARCH_ATTRIBUTES).filter((name) => !(name in known));
  if (missing.length === 0) return;
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(
        missing.map((name) => [name, INDEXED_VALUE_TYPE.INDEXED_VALUE_TYPE_KEYWORD]),
      ),
    });
  } catch (err) {
    const code = (err as { code?: number }).code;
    if (code === grpcStatus.ALREADY_EXISTS) return; // another worker registered them first
    if (code === grpcStatus.PERMISSION_DENIED || code === grpcStatus.UNIMPLEMENTED) {
      const flags = missing.map((name) => `--name ${name} --type Keyword`).join(' ');
      throw new Error(
        `search attributes ${missing.join(', ')} are missing from namespace ${namespace} ` +
          'and these credentials may not add them; an operator must run: ' +
          `temporal operator search-attribute create --namespace ${namespace} ${flags}`,
      );
    }
    throw err;
  }
}
