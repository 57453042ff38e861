"""The outgoing queue: jobs, the scheduler that runs them on devices, retries, routing, receipts and the archive.

Flow: SubmissionWorker (worker.py) renders a "received" submission and creates one job per recipient
(enqueue.py); the Scheduler (scheduler.py) claims due jobs from the shared table for this node's idle devices,
runs each call through the DeviceManager (devices.py) and records the attempt; policy.py decides retries;
JobFinisher (finish.py) sends receipts (receipts.py) and archives sent faxes. QueueService (service.py) runs
it all inside `faxgate serve`; cli.py is `faxgate submit|jobs|queue`. All SQL is in gateway/storage/jobs.py.
"""
