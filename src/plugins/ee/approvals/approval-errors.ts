import { GatehouseError } from '../../../core/index.js';

/** An approver's decision that cannot be taken: the request is not pending, or the approver may not decide it. */
export class ApprovalDecisionError extends GatehouseError {
  constructor(
    readonly status: 403 | 404 | 409,
    message: string,
  ) {
    super(status === 403 ? 'self_approval' : status === 404 ? 'not_found' : 'conflict', message);
  }
}
