package telephony

import "flag"

// update rewrites every recorded file of the package: the call fixtures
// (testdata/calls), the stream fixtures (testdata/streams/happy_*) and the
// golden TwiML (testdata/twiml). Review the diff before committing:
//
//	go test ./telephony -update
var update = flag.Bool("update", false, "record the fixtures and golden files in testdata again")

// Update is update, for the package's external tests.
var Update = update
