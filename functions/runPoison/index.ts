import { app } from '@azure/functions';
import { runPoison } from './handler';

app.storageQueue('runPoison', {
  queueName: '%RUN_QUEUE_NAME%-poison',
  connection: 'STATE_STORAGE',
  handler: async (message, context) => {
    await runPoison(message, context);
  },
});
