import { app } from '@azure/functions';
import { runWorker } from './handler';

app.storageQueue('runWorker', {
  queueName: '%RUN_QUEUE_NAME%',
  connection: 'STATE_STORAGE',
  handler: async (message, context) => {
    await runWorker(message, context);
  },
});
