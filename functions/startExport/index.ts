import { app } from '@azure/functions';
import { startExport } from './handler';

app.http('startExport', {
  methods: ['POST'],
  authLevel: 'function',
  route: 'exports/runs',
  handler: (request, context) => startExport(request, context),
});
