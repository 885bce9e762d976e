/**
 * The one insert-failed log line per failed warehouse insert call. It wraps
 * the real adapter, beneath the group-commit batcher, so a failed batch that
 * carried many requests is one line (what the "insert errors" alert counts),
 * while each request still gets its own request line.
 */
import type { FunctionName } from '../log-events';
import type { Logger } from '../logging';
import { asWarehouseError, RowsRejectedError, type WarehouseError } from '../rules/warehouse-errors';
import type { Warehouse, WarehouseRow } from '../warehouse/warehouse';
import { WarehouseDecorator } from '../warehouse/warehouse-decorator';

/** Reads and close pass through: a failed read is told by its own request line. */
export class InsertFailureLogWarehouse extends WarehouseDecorator {
  constructor(
    inner: Warehouse,
    private readonly logger: Logger,
    private readonly functionName: FunctionName,
  ) {
    super(inner);
  }

  override async insert(rows: readonly WarehouseRow[]): Promise<void> {
    try {
      await this.inner.insert(rows);
    } catch (error) {
      const failure = asWarehouseError(error);
      this.logger.insertFailed({
        function: this.functionName,
        rows: rows.length,
        errorClass: failure.errorClass,
        retryable: failure.retryable,
        error: describeWarehouseFailure(failure),
      });
      throw failure;
    }
  }
}

const MAX_DESCRIBED_ROW_ERRORS = 5;

/** The adapter's message plus, for refused rows, the first few row errors. For logs only. */
export function describeWarehouseFailure(failure: WarehouseError): string {
  if (!(failure instanceof RowsRejectedError)) return failure.message;
  const described = failure.rowErrors
    .slice(0, MAX_DESCRIBED_ROW_ERRORS)
    .map((row) => `row ${row.index}: ${row.reason}: ${row.message}`);
  const more = failure.rowErrors.length - described.length;
  if (more > 0) described.push(`and ${more} more`);
  return `${failure.message} (${described.join('; ')})`;
}
