package tokenizer

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// ParseIDs reads token ids written as {"ids": [...]}, a JSON list, or numbers
// separated by commas and/or white space.
func ParseIDs(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "{"):
		var v struct {
			IDs *[]int `json:"ids"`
		}
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return nil, fmt.Errorf(`ids: %v (expected {"ids": [1, 2, 3]})`, err)
		}
		if v.IDs == nil {
			return nil, fmt.Errorf(`ids: the object has no "ids" field (expected {"ids": [1, 2, 3]})`)
		}
		return *v.IDs, nil
	case strings.HasPrefix(s, "["):
		var ids []int
		if err := json.Unmarshal([]byte(s), &ids); err != nil {
			return nil, fmt.Errorf("ids: %v (expected a JSON list of integers)", err)
		}
		return ids, nil
	}
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	ids := make([]int, 0, len(fields))
	for i, f := range fields {
		v, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("ids: item %d %q is not an integer", i+1, f)
		}
		ids = append(ids, v)
	}
	return ids, nil
}

// FormatIDs writes {"ids": [1, 2, 3]}.
func FormatIDs(ids []int) string {
	var sb strings.Builder
	sb.WriteString(`{"ids": [`)
	for i, id := range ids {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(strconv.Itoa(id))
	}
	sb.WriteString("]}")
	return sb.String()
}
