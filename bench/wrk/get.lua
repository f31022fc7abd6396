-- A plain GET of the path given on the command line.
wrk.method = "GET"
