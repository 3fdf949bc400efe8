import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { fromApiGatewayEvent, toApiGatewayResult } from '../adapters/apigw';
import { HttpProblem, problemResponse } from '../core/problem';
import { dispatch, Routes } from '../core/router';

/**
 * A Lambda proxy entry point over a route table: request in, problem+json on any failure,
 * one structured log line per request (route, status, no bodies).
 */
export function apiGatewayHandler(routes: Routes, logger: Logger) {
  return async (event: APIGatewayProxyEvent, context?: Context): Promise<APIGatewayProxyResult> => {
    if (context) logger.addContext(context);
    let request;
    try {
      request = fromApiGatewayEvent(event);
    } catch (error) {
      if (error instanceof HttpProblem) return toApiGatewayResult(problemResponse(error));
      throw error;
    }
    const response = await dispatch(routes, request, (error) => {
      logger.error('Unexpected error', { route: request.route, method: request.method, error: error as Error });
    });
    logger.info('Request handled', {
      method: request.method,
      route: request.route,
      status: response.statusCode,
      apiKeyId: request.callerKeyId,
      requestId: event.requestContext?.requestId,
    });
    return toApiGatewayResult(response);
  };
}
