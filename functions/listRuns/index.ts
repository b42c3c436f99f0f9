import { app } from '@azure/functions';
import { listRuns } from './handler';

app.http('listRuns', {
  methods: ['GET'],
  authLevel: 'function',
  route: 'exports/runs',
  handler: (request, context) => listRuns(request, context),
});
