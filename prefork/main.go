package prefork

// Exit statuses of the starlight command.
const (
	ExitOK      = 0 // stopped as asked
	ExitFailure = 1 // could not start, or stopped on an error
	ExitUsage   = 2 // bad command line
)
