import { app } from '@azure/functions';
import { getRun } from './handler';

app.http('getRun', {
  methods: ['GET'],
  authLevel: 'function',
  route: 'exports/runs/{runId}',
  handler: (request, context) => getRun(request, context),
});
