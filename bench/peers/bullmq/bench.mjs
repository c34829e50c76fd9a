// The BullMQ peer (bench/peers/bullmq.sh): `node bench.mjs worker` runs one Worker of concurrency CONCURRENCY
// whose processor does nothing, prints READY, and once TOTAL jobs completed prints
// `DONE <completed> <failed> <epoch ms of the last completion>` and exits; `node bench.mjs produce` adds TOTAL
// jobs with Queue.addBulk in batches of BATCH, CLIENTS batches in flight, and prints `ADDED <epoch ms before
// the first addBulk> <epoch ms after the last>`. Redis: REDIS_PORT and REDIS_PASSWORD on 127.0.0.1.
import { Queue, Worker } from 'bullmq';

const env = (name, fallback) => process.env[name] ?? fallback;
const connection = { host: '127.0.0.1', port: Number(env('REDIS_PORT')), password: env('REDIS_PASSWORD') };
const total = Number(env('TOTAL', 100000));
const batch = Number(env('BATCH', 1000));
const clients = Number(env('CLIENTS', 4));
const queueName = 'bench';

if (process.argv[2] === 'worker') {
  let completed = 0;
  let failed = 0;
  const worker = new Worker(queueName, async () => {}, { connection, concurrency: Number(env('CONCURRENCY', 50)) });
  const finish = async () => {
    console.log(`DONE ${completed} ${failed} ${Date.now()}`);
    await worker.close();
    process.exit(failed === 0 ? 0 : 1);
  };
  worker.on('completed', () => { if (++completed + failed === total) finish(); });
  worker.on('failed', (job, err) => { console.error(`failed: ${err}`); if (completed + ++failed === total) finish(); });
  worker.on('error', (err) => { console.error(`worker error: ${err}`); process.exit(2); });
  await worker.waitUntilReady();
  console.log('READY');
} else if (process.argv[2] === 'produce') {
  const queue = new Queue(queueName, { connection });
  await queue.waitUntilReady();
  const jobs = Array.from({ length: batch }, () => ({ name: 'noop', data: {} }));
  let next = 0;
  const batches = total / batch;
  const t0 = Date.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < batches) {
      next++;
      const added = await queue.addBulk(jobs);
      if (added.length !== batch) throw new Error(`addBulk added ${added.length} of ${batch}`);
    }
  }));
  const t1 = Date.now();
  const counts = await queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed');
  console.error(`queue counts after the last addBulk: ${JSON.stringify(counts)}`);
  console.log(`ADDED ${t0} ${t1}`);
  await queue.close();
} else if (process.argv[2] === 'count') {
  const queue = new Queue(queueName, { connection });
  const counts = await queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed');
  console.log(`COUNTS ${counts.completed} ${counts.failed} ${counts.waiting + counts.active + counts.delayed}`);
  await queue.close();
} else {
  console.error('usage: node bench.mjs worker|produce|count');
  process.exit(2);
}
