package twiliosim_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/ivr-gateway/ivr/internal/twiliosim"
)

// A terminal phone playing a script (the README's `ivr call`) against a gateway.
func Example() {
	ctx := context.Background()
	script, err := twiliosim.ParseScript(strings.NewReader("say:Maria Garcia\ndtmf:01051980\ndtmf:1234\n"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	call, turn, err := twiliosim.Dial(ctx, twiliosim.Config{
		BaseURL:   "http://127.0.0.1:8080",
		PublicURL: "https://ivr.example.org",
		AuthToken: os.Getenv("TWILIO_AUTH_TOKEN"),
	})
	for _, l := range script {
		if err != nil || turn.Ended {
			break
		}
		for _, u := range turn.Heard {
			fmt.Println("heard:", u.Text)
		}
		turn, err = call.Do(ctx, l)
	}
	if err == nil && turn.Ended {
		fmt.Println("ended:", turn.End)
		_ = call.Hangup(ctx, "completed")
	}
}
