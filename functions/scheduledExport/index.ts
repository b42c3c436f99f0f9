import { app } from '@azure/functions';
import { scheduledExport } from './handler';

app.timer('scheduledExport', {
  schedule: '%EXPORT_SCHEDULE%',
  handler: (timer, context) => scheduledExport(timer, context),
});
