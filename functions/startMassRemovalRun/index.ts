import { app } from '@azure/functions';
import { startMassRemovalRun } from './handler';

// authLevel 'admin': the host accepts only the master key, which function-key holders do not have.
app.http('startMassRemovalRun', {
  methods: ['POST'],
  authLevel: 'admin',
  route: 'exports/mass-removal-runs',
  handler: (request, context) => startMassRemovalRun(request, context),
});
