// Package timefmt writes the times netfx prints: RFC 3339 in UTC with
// microseconds, from Unix nanoseconds, without parsing a layout for each.
package timefmt

// AppendRFC3339Micro appends Unix nanoseconds as time.Time's Format with
// "2006-01-02T15:04:05.000000Z07:00" writes them in UTC, without parsing a
// layout: the report's times and the CSV's ts.
func AppendRFC3339Micro(b []byte, ns int64) []byte {
	sec, nsec := floorDiv(ns, 1e9)
	days, daySec := floorDiv(sec, 86400)
	year, month, day := civilDate(days)
	b = AppendDigits(b, uint64(year), 4)
	b = AppendDigits(append(b, '-'), uint64(month), 2)
	b = AppendDigits(append(b, '-'), uint64(day), 2)
	b = AppendDigits(append(b, 'T'), uint64(daySec/3600), 2)
	b = AppendDigits(append(b, ':'), uint64(daySec/60%60), 2)
	b = AppendDigits(append(b, ':'), uint64(daySec%60), 2)
	b = AppendDigits(append(b, '.'), uint64(nsec/1000), 6)
	return append(b, 'Z')
}

// floorDiv returns a divided by d (positive), rounded down, and the
// remainder, from 0 to d-1.
func floorDiv(a, d int64) (q, r int64) {
	q, r = a/d, a%d
	if r < 0 {
		q, r = q-1, r+d
	}
	return q, r
}

// civilDate returns the proleptic Gregorian date of days since 1970-01-01
// (Howard Hinnant's days_from_civil, inverted: "chrono-Compatible
// Low-Level Date Algorithms").
func civilDate(days int64) (year, month, day int64) {
	era, dayOfEra := floorDiv(days+719468, 146097) // eras of 400 years from 0000-03-01
	yearOfEra := (dayOfEra - dayOfEra/1460 + dayOfEra/36524 - dayOfEra/146096) / 365
	dayOfYear := dayOfEra - (365*yearOfEra + yearOfEra/4 - yearOfEra/100)
	m := (5*dayOfYear + 2) / 153 // from March
	day = dayOfYear - (153*m+2)/5 + 1
	month = m + 3
	if month > 12 {
		month -= 12
	}
	year = yearOfEra + era*400
	if month <= 2 {
		year++
	}
	return year, month, day
}

// AppendDigits appends v in n decimal digits, with leading zeros.
func AppendDigits(b []byte, v uint64, n int) []byte {
	b = append(b, make([]byte, n)...)
	for i := len(b) - 1; i >= len(b)-n; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}
