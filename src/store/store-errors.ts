/**
 * The store speaks ClickHouse's HTTP protocol, so its refusals are ClickHouse exceptions (code,
 * text, `X-ClickHouse-Exception-Code`), which clickhouse-js and Grafana already understand, not
 * the gateway's `GW_ERR_*` answers.
 */
export class StoreError extends Error {
  override name = 'StoreError';
  constructor(
    readonly code: number,
    readonly type: string,
    message: string,
  ) {
    super(`Code: ${code}. DB::Exception: ${message}. (${type})`);
  }
}

export function storeError(code: number, type: string, message: string): StoreError {
  return new StoreError(code, type, message);
}

/** HTTP status ClickHouse answers for an exception code (the subset clients react to). */
export function statusFor(code: number): number {
  if (code === 516 || code === 194) return 401; // AUTHENTICATION_FAILED, REQUIRED_PASSWORD
  if (code === 497 || code === 164 || code === 192) return 403; // ACCESS_DENIED, READONLY, UNKNOWN_USER
  if (code === 60 || code === 81) return 404; // UNKNOWN_TABLE, UNKNOWN_DATABASE
  if (code === 62 || code === 47 || code === 36 || code === 27 || code === 26 || code === 117 || code === 115) return 400;
  return 500;
}
