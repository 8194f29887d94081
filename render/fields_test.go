package render

import (
	"reflect"
	"testing"

	"github.com/netfx/netfx/appid"
	"github.com/netfx/netfx/flows"
)

// TestFieldGroups: a field skipped with its group depends on that group's
// part of the record alone. For each protocol of appid.Facts, a record
// with every protocol's facts set but that one's must leave unset exactly
// the fields of the protocol's group, so that skipping a group never
// drops a value (a field put in the wrong group would be unset here while
// set in its output).
func TestFieldGroups(t *testing.T) {
	facts := reflect.TypeFor[appid.Facts]()
	full := func() *appid.Facts {
		var f appid.Facts
		v := reflect.ValueOf(&f).Elem()
		for i := range v.NumField() {
			p := reflect.New(facts.Field(i).Type.Elem())
			fill(t, p.Elem())
			v.Field(i).Set(p)
		}
		return &f
	}
	set := func(c *flows.Conn) map[string]bool {
		fields := map[string]bool{}
		for i := range connFields {
			if _, ok := appendPlain(nil, &connFields[i], c, zeekText, ","); ok {
				fields[connFields[i].name] = true
			}
		}
		return fields
	}
	all := set(&flows.Conn{App: full()})
	for _, f := range connFields {
		if f.group > groupApp && !all[f.name] {
			t.Errorf("field %s is unset with every protocol's facts set: fill sets too little", f.name)
		}
	}
	for i := range facts.NumField() {
		protocol := facts.Field(i).Name
		only := &appid.Facts{}
		reflect.ValueOf(only).Elem().Field(i).Set(reflect.ValueOf(full()).Elem().Field(i))
		group := presentGroups(&flows.Conn{App: only}) &^ (groupCore | groupApp)
		if group == 0 || group&(group-1) != 0 {
			t.Errorf("%s: groups %b, want one", protocol, group)
			continue
		}
		without := full()
		reflect.ValueOf(without).Elem().Field(i).SetZero()
		left := set(&flows.Conn{App: without})
		for _, f := range connFields {
			unsetWithout := all[f.name] && !left[f.name]
			if inGroup := f.group == group; unsetWithout != inGroup {
				t.Errorf("%s: field %s is in its group: %v, but unset without it: %v", protocol, f.name, inGroup, unsetWithout)
			}
		}
	}
}

// fill sets every field of a struct to a value that a field's getter
// reports as set: text, a count above one, true, a list of one item,
// answers.
func fill(t *testing.T, v reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		if !f.CanSet() {
			continue
		}
		switch {
		case f.Type() == reflect.TypeFor[appid.DNSAnswers]():
			f.Set(reflect.ValueOf(appid.NewDNSAnswers(appid.DNSAnswer{Name: "a.example", Type: "CNAME", Value: "b.example"})))
		case f.Kind() == reflect.String:
			f.SetString("x")
		case f.CanInt():
			f.SetInt(7)
		case f.CanUint():
			f.SetUint(7)
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
			f.Set(reflect.ValueOf([]string{"x"}).Convert(f.Type()))
		}
	}
}
