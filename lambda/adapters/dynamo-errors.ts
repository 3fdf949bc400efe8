/** True for DynamoDB's "condition not met" answer, which our conditional writes expect. */
export function isConditionFailed(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}
