import { HttpRequest } from './http';
import { HttpProblem } from './problem';

/** Rejects a declared non-JSON body with 415; a missing content-type is read as JSON. */
export function requireJsonContentType(request: HttpRequest): void {
  const type = request.headers['content-type'];
  if (type === undefined) return;
  const mediaType = type.split(';')[0].trim().toLowerCase();
  if (mediaType !== 'application/json' && !/^application\/[a-z0-9.+-]*\+json$/.test(mediaType)) {
    throw new HttpProblem(415, 'unsupported-media-type', 'Unsupported media type', `Send JSON (content-type: application/json), not ${mediaType}.`);
  }
}

/** Parses a JSON body; a missing or malformed one is a 400. */
export function parseJsonBody(body: string | undefined): unknown {
  if (body === undefined || body.trim() === '') {
    throw HttpProblem.badRequest('The request body is empty; a JSON object is required.');
  }
  try {
    return JSON.parse(body);
  } catch (error) {
    throw HttpProblem.badRequest(`The request body is not valid JSON: ${(error as Error).message}`);
  }
}
