import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { Azurite, startAzurite } from '../../tools/local/azurite';

describe('Azurite helper', () => {
  let azurite: Azurite;
  beforeAll(async () => {
    azurite = await startAzurite({ queue: true });
  });
  afterAll(async () => azurite.stop());

  it('serves blobs and queues on loopback', async () => {
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('smoke');
    await container.create();
    await container.getBlockBlobClient('a.txt').upload('hello', 5);
    expect((await container.getBlobClient('a.txt').downloadToBuffer()).toString()).toBe('hello');
    const queue = QueueServiceClient.fromConnectionString(azurite.connectionString).getQueueClient('smoke-queue');
    await queue.create();
    await queue.sendMessage('m');
    const received = await queue.receiveMessages();
    expect(received.receivedMessageItems[0].messageText).toBe('m');
  });
});
