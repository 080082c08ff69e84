"""httperf/harness: the package behind `httperf/run` (see httperf/README.md).

    scenarios.py  what is asked (the one place to add a scenario), how big, the book's questions
    servers.py    who is asked: every stage and peer, installed, configured from httperf/conf/,
                  started, checked, stopped (the one place to add a peer, with its template)
    measure.py    the clients (httperf, wrk, strace) and /proc: one server in one scenario
    results.py    one row of results.csv per measurement, and the medians the report shows
    report.py     report.md and machine.md, from a RunRecord (live, or read back from a run)
    chart.py      one small SVG chart per question a chapter asks
    main.py       the run from start to end, and the command line
    util.py       progress, timed commands in their own process groups

Python 3.11 standard library only.
"""
