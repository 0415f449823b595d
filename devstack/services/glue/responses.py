"""Glue's JSON 1.1 protocol: the operation named in ``X-Amz-Target`` (``AWSGlue.GetJob``), its
input as the body, its reply in the shape of Glue's service model."""

from __future__ import annotations

from typing import Callable

from devstack.services import http_api
from devstack.services.glue import exceptions as err
from devstack.services.glue.catalog import Catalog
from devstack.services.glue.crawlers import Crawlers
from devstack.services.glue.models import GlueBackend, page


class GlueResponses:
    """One method per Glue operation (and the local extras, named so)."""

    def __init__(self, backend: GlueBackend, crawlers: Crawlers | None = None):
        self.backend = backend
        self.crawlers = crawlers

    # -------------------------------------------------------------------------- crawlers
    def _crawlers(self) -> Crawlers:
        if self.crawlers is None:
            raise err.UnknownOperationException("crawlers are not served by this instance")
        return self.crawlers

    def CreateCrawler(self, req: dict) -> dict:
        self._crawlers().create(req)
        return {}

    def GetCrawler(self, req: dict) -> dict:
        return {"Crawler": self._crawlers().get(req["Name"])}

    def GetCrawlers(self, req: dict) -> dict:
        return self._crawlers().get_many(req)

    def BatchGetCrawlers(self, req: dict) -> dict:
        crawlers = self._crawlers()
        names = req["CrawlerNames"]
        found = [n for n in names if n in crawlers.crawlers]
        return {
            "Crawlers": [crawlers.get(n) for n in found],
            "CrawlersNotFound": [n for n in names if n not in found],
        }

    def ListCrawlers(self, req: dict) -> dict:
        return self._crawlers().list_names(req)

    def UpdateCrawler(self, req: dict) -> dict:
        self._crawlers().update(req)
        return {}

    def DeleteCrawler(self, req: dict) -> dict:
        self._crawlers().delete(req["Name"])
        return {}

    def StartCrawler(self, req: dict) -> dict:
        self._crawlers().start(req["Name"])
        return {}

    def StopCrawler(self, req: dict) -> dict:
        self._crawlers().stop(req["Name"])
        return {}

    def GetCrawlerMetrics(self, req: dict) -> dict:
        metrics = self._crawlers().metrics(req.get("CrawlerNameList"))
        return page(metrics, req, "CrawlerMetricsList")

    # ------------------------------------------------------------------------------ jobs
    def CreateJob(self, req: dict) -> dict:
        return {"Name": self.backend.create_job(req)}

    def GetJob(self, req: dict) -> dict:
        return {"Job": self.backend.get_job(req["JobName"])}

    def GetJobs(self, req: dict) -> dict:
        jobs = [self.backend.get_job(n) for n in self.backend.job_names()]
        return page(jobs, req, "Jobs")

    def ListJobs(self, req: dict) -> dict:
        if req.get("Tags"):
            raise err.InvalidInputException("Tags filters are not kept by the local Glue API")
        return page(self.backend.job_names(), req, "JobNames")

    def BatchGetJobs(self, req: dict) -> dict:
        names = req.get("JobNames") or []
        known = set(self.backend.job_names())
        return {
            "Jobs": [self.backend.get_job(n) for n in names if n in known],
            "JobsNotFound": [n for n in names if n not in known],
        }

    def UpdateJob(self, req: dict) -> dict:
        self.backend.update_job(req["JobName"], req["JobUpdate"])
        return {"JobName": req["JobName"]}

    def DeleteJob(self, req: dict) -> dict:
        self.backend.delete_job(req["JobName"])
        return {"JobName": req["JobName"]}

    # ------------------------------------------------------------------------------ runs
    def StartJobRun(self, req: dict) -> dict:
        run_id = self.backend.start_job_run(
            req["JobName"], req.get("Arguments") or {}, req.get("Timeout")
        )
        return {"JobRunId": run_id}

    def GetJobRun(self, req: dict) -> dict:
        return {"JobRun": self.backend.get_job_run(req["JobName"], req["RunId"])}

    def GetJobRuns(self, req: dict) -> dict:
        return page(self.backend.job_runs(req["JobName"]), req, "JobRuns")

    def BatchStopJobRun(self, req: dict) -> dict:
        done, errors = [], []
        for run_id in req.get("JobRunIds", []):
            try:
                self.backend.stop_job_run(req["JobName"], run_id)
            except err.GlueError as exc:
                errors.append(
                    {
                        "JobName": req["JobName"],
                        "JobRunId": run_id,
                        "ErrorDetail": {"ErrorCode": exc.code, "ErrorMessage": exc.message},
                    }
                )
                continue
            done.append({"JobName": req["JobName"], "JobRunId": run_id})
        return {"SuccessfulSubmissions": done, "Errors": errors}

    # ------------------------------------------------------------------------- bookmarks
    def GetJobBookmark(self, req: dict) -> dict:
        return {"JobBookmarkEntry": self.backend.get_job_bookmark(req["JobName"])}

    def ResetJobBookmark(self, req: dict) -> dict:
        entry = self.backend.reset_job_bookmark(req["JobName"], req.get("RunId"))
        return {"JobBookmarkEntry": entry}

    # ----------------------------------------------------------------------- connections
    def CreateConnection(self, req: dict) -> dict:
        self.backend.create_connection(req.get("ConnectionInput") or {})
        return {}

    def GetConnection(self, req: dict) -> dict:
        return {
            "Connection": self.backend.get_connection(req["Name"], req.get("HidePassword", False))
        }

    def GetConnections(self, req: dict) -> dict:
        connection_type = (req.get("Filter") or {}).get("ConnectionType")
        listed = self.backend.connection_list(connection_type, req.get("HidePassword", False))
        return page(listed, req, "ConnectionList")

    def DeleteConnection(self, req: dict) -> dict:
        self.backend.delete_connection(req["ConnectionName"])
        return {}

    # ------------------------------------------- what tools list, which this API never holds
    def GetTriggers(self, req: dict) -> dict:
        if req.get("DependentJobName"):
            self.backend.get_job(req["DependentJobName"])
        return {"Triggers": []}

    def GetSecurityConfigurations(self, req: dict) -> dict:
        return {"SecurityConfigurations": []}

    # ---------------------------------------------------------------------- local extras
    def FailNextRuns(self, req: dict) -> dict:
        """Not a Glue API: makes the next ``Count`` runs of a job fail (failure-path tests)."""
        self.backend.fail_next_runs(req["JobName"], int(req.get("Count", 1)))
        return {}

    def GetRunProcesses(self, req: dict) -> dict:
        """Not a Glue API: the process group of each live run of a job (fault-injection tests
        kill them); kept out of Glue's JobRun shape."""
        return {"Processes": self.backend.run_processes(req["JobName"])}

    def DeleteJobRuns(self, req: dict) -> dict:
        """Not a Glue API: forgets a job's finished runs and their output (``scripts/reset``);
        refused while one is active."""
        return {"Deleted": self.backend.delete_job_runs(req["JobName"])}


def service(responses: GlueResponses, catalog: Catalog) -> Callable[[http_api.Request], dict]:
    def handle(request: http_api.Request) -> dict:
        target = request.header("X-Amz-Target")
        operation = target.split(".", 1)[-1]
        handler = None
        if target.startswith("AWSGlue.") and operation[:1].isupper():
            handler = getattr(responses, operation, None) or getattr(catalog, operation, None)
        if handler is None:
            raise err.UnknownOperationException(
                f"{target or 'no X-Amz-Target'} is not supported by the local Glue service"
            )
        return handler(request.json())  # a KeyError (a missing member): InvalidInputException

    return handle


def handler_class(backend: GlueBackend, catalog: Catalog, guard: http_api.Guard):
    """The HTTP handler; the crawlers' state beside the jobs', their S3 and logs the runs'."""
    crawlers = Crawlers(backend.state_dir, catalog, backend.supervisor.endpoint, backend.region)
    return http_api.handler_class(
        service(GlueResponses(backend, crawlers), catalog),
        lambda: {"status": "healthy", "jobs": len(backend.jobs)},
        "application/x-amz-json-1.1",
        "InvalidInputException",
        guard,
    )
