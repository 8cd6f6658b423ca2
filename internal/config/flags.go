package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// LookupEnv reads an environment variable: os.LookupEnv outside tests.
type LookupEnv func(key string) (string, bool)

// FlagSet is the options of one subcommand. It is a flag.FlagSet whose flags
// also read their environment variable, and whose --help shows that
// variable and the default beside each flag.
type FlagSet struct {
	name    string // "org create"
	summary string // what the command does, for --help
	fs      *flag.FlagSet
	env     LookupEnv
	opts    []Option // flags, in order
	envOnly []Option // options read only from the environment
	argName string   // the one positional argument, "" for none
}

// NewFlagSet returns the options of the subcommand name ("serve", "keys
// rotate"); summary opens its --help.
func NewFlagSet(name, summary string, env LookupEnv) *FlagSet {
	fs := flag.NewFlagSet("crmsync "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned; Usage prints help on request
	fs.Usage = func() {}
	return &FlagSet{name: name, summary: summary, fs: fs, env: env}
}

// Name is the subcommand's name.
func (s *FlagSet) Name() string { return s.name }

// Options lists the options registered, in order: the flags, then those
// read only from the environment.
func (s *FlagSet) Options() []Option { return append(slices.Clone(s.opts), s.envOnly...) }

// String registers a string option, storing its value in p.
func (s *FlagSet) String(p *string, o Option) {
	s.register(o)
	s.fs.StringVar(p, o.Flag, o.Default, o.Usage)
}

// Choice registers a string option that must be one of choices (which
// o.Usage should name). Values are taken in any case.
func (s *FlagSet) Choice(p *string, o Option, choices ...string) {
	s.register(o)
	*p = o.Default
	s.fs.Var(&choiceValue{p: p, choices: choices}, o.Flag, o.Usage)
}

// Bool registers a boolean option.
func (s *FlagSet) Bool(p *bool, o Option) {
	s.register(o)
	def, _ := strconv.ParseBool(o.Default)
	s.fs.BoolVar(p, o.Flag, def, o.Usage)
}

// EnvOnly documents, in --help, an option read only from the environment
// (by whichever package needs it).
func (s *FlagSet) EnvOnly(o Option) {
	if o.Flag != "" {
		panic("config: option --" + o.Flag + " is a flag")
	}
	s.envOnly = append(s.envOnly, o)
}

func (s *FlagSet) register(o Option) {
	if o.Flag == "" {
		panic("config: option " + o.Env + " has no flag")
	}
	s.opts = append(s.opts, o)
}

// TakesArg declares that the command takes one positional argument, named
// name in messages ("ADDRESS").
func (s *FlagSet) TakesArg(name string) { s.argName = name }

// Arg returns the positional argument, "" if the command takes none.
func (s *FlagSet) Arg() string { return s.fs.Arg(0) }

// ErrHelp is returned by Parse when --help or -h was given.
var ErrHelp = flag.ErrHelp

// Parse reads args, then fills every option not given on the command line
// from its environment variable, if set and not empty: a flag beats its
// variable, which beats the default. Positional arguments are refused, as no
// subcommand takes any. Errors name the flag or the variable at fault.
func (s *FlagSet) Parse(args []string) error {
	if err := s.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ErrHelp
		}
		return err
	}
	switch {
	case s.argName == "" && s.fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q: crmsync %s takes only flags", s.fs.Arg(0), s.name)
	case s.argName != "" && s.fs.NArg() != 1:
		return fmt.Errorf("crmsync %s takes one %s", s.name, s.argName)
	}
	given := map[string]bool{}
	s.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, o := range s.opts {
		if given[o.Flag] || s.env == nil {
			continue
		}
		v, ok := s.env(o.Env)
		if !ok || v == "" {
			continue
		}
		if err := s.fs.Set(o.Flag, v); err != nil {
			return fmt.Errorf("invalid value %q for %s (environment variable of --%s): %v", v, o.Env, o.Flag, err)
		}
	}
	return nil
}

// Usage writes the subcommand's help: its summary and every option with its
// environment variable and default.
func (s *FlagSet) Usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: crmsync %s", s.name)
	if len(s.opts) > 0 {
		fmt.Fprint(w, " [flags]")
	}
	fmt.Fprintf(w, "\n\n%s\n", wrap(s.summary, 78, ""))
	if len(s.opts) == 0 {
		return
	}
	fmt.Fprintln(w, "\nFlags:")
	for _, o := range s.opts {
		head := "  --" + o.Flag
		if o.Arg != "" {
			head += " " + o.Arg
		}
		fmt.Fprintln(w, head)
		fmt.Fprintln(w, wrap(o.Usage, 78, "        "))
		if o.Default == "" {
			fmt.Fprintf(w, "        (env %s)\n", o.Env)
		} else {
			fmt.Fprintf(w, "        (env %s, default %s)\n", o.Env, o.Default)
		}
	}
	if len(s.envOnly) == 0 {
		return
	}
	fmt.Fprintln(w, "\nEnvironment only:")
	for _, o := range s.envOnly {
		fmt.Fprintln(w, "  "+o.Env)
		fmt.Fprintln(w, wrap(o.Usage, 78, "        "))
	}
}

// wrap breaks text into lines of at most width columns, each starting with
// indent.
func wrap(text string, width int, indent string) string {
	var b strings.Builder
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	b.WriteString(line)
	return b.String()
}

// choiceValue is a flag.Value limited to a few strings.
type choiceValue struct {
	p       *string
	choices []string
}

func (c *choiceValue) String() string {
	if c.p == nil {
		return ""
	}
	return *c.p
}

func (c *choiceValue) Set(v string) error {
	v = strings.ToLower(strings.TrimSpace(v))
	if !slices.Contains(c.choices, v) {
		return fmt.Errorf("must be one of %s", strings.Join(c.choices, ", "))
	}
	*c.p = v
	return nil
}
