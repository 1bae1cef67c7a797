package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Format names used by WAV.Format and WriteWAV.
const (
	FormatPCM16 = "pcm16"
	FormatMulaw = "mulaw"
	FormatAlaw  = "alaw"
)

// SampleRate is the only rate the gateway handles: narrowband telephony.
const SampleRate = 8000

// WAVE format tags (RFC 2361, mmreg.h).
const (
	tagPCM        = 0x0001
	tagAlaw       = 0x0006
	tagMulaw      = 0x0007
	tagExtensible = 0xFFFE
)

// ksdataformatSubtypeTail is the fixed part of the KSDATAFORMAT_SUBTYPE_*
// GUIDs; the first two bytes carry the ordinary format tag.
var ksdataformatSubtypeTail = [14]byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// Errors returned by ReadWAV; test with errors.Is.
var (
	// ErrNotWAV means the input is not a RIFF/WAVE file.
	ErrNotWAV = errors.New("audio: not a RIFF/WAVE file")
	// ErrUnsupported means a well-formed WAV this package does not decode
	// (rate other than 8000 Hz, more than one channel, another codec).
	ErrUnsupported = errors.New("audio: unsupported WAV format")
	// ErrTruncated means the file ends inside a header or before any data chunk.
	ErrTruncated = errors.New("audio: truncated WAV file")
)

// maxSamples bounds what ReadWAV will hold (about 4.6 hours at 8 kHz) so a
// hostile length field cannot make it allocate without limit.
const maxSamples = 1 << 27

// WAV is a decoded WAV file. Samples are 16-bit linear whatever the file's
// codec; Format records that codec ("pcm16", "mulaw" or "alaw").
type WAV struct {
	SampleRate, Channels int
	Format               string
	Samples              []int16
}

// ReadWAV decodes an 8 kHz mono RIFF/WAVE file whose fmt chunk is PCM 16-bit
// (tag 1), A-law (6), μ-law (7) or WAVE_FORMAT_EXTENSIBLE wrapping one of
// those. Unknown chunks are skipped. A data chunk that claims more bytes than
// the file holds (a recorder that never patched its header) is read to EOF.
// Errors wrap ErrNotWAV, ErrUnsupported or ErrTruncated, or the reader's error.
func ReadWAV(r io.Reader) (*WAV, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, readErr("RIFF header", err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, ErrNotWAV
	}
	var (
		w      *WAV
		blockB int // bytes per sample frame
	)
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			if w != nil && errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%w: no data chunk", ErrTruncated)
			}
			return nil, readErr("chunk header", err)
		}
		id := string(ch[0:4])
		size := int64(binary.LittleEndian.Uint32(ch[4:8]))
		switch id {
		case "fmt ":
			if w != nil {
				return nil, fmt.Errorf("%w: second fmt chunk", ErrNotWAV)
			}
			if size < 16 || size > 1024 {
				return nil, fmt.Errorf("%w: fmt chunk of %d bytes", ErrNotWAV, size)
			}
			buf := make([]byte, size+size&1)
			if _, err := io.ReadFull(r, buf); err != nil {
				return nil, readErr("fmt chunk", err)
			}
			var err error
			if w, blockB, err = parseFmt(buf[:size]); err != nil {
				return nil, err
			}
		case "data":
			if w == nil {
				return nil, fmt.Errorf("%w: data chunk before fmt chunk", ErrNotWAV)
			}
			data, err := readData(r, size, blockB)
			if err != nil {
				return nil, err
			}
			w.Samples = decodeData(data, w.Format)
			return w, nil
		default:
			if _, err := io.CopyN(io.Discard, r, size+size&1); err != nil {
				return nil, readErr(fmt.Sprintf("%q chunk", id), err)
			}
		}
	}
}

func readErr(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: in %s", ErrTruncated, what)
	}
	return fmt.Errorf("audio: read %s: %w", what, err)
}

func parseFmt(b []byte) (*WAV, int, error) {
	le := binary.LittleEndian
	tag := le.Uint16(b[0:2])
	channels := int(le.Uint16(b[2:4]))
	rate := int(le.Uint32(b[4:8]))
	blockAlign := int(le.Uint16(b[12:14]))
	bitsPer := int(le.Uint16(b[14:16]))
	if tag == tagExtensible {
		// cbSize(2) validBits(2) channelMask(4) SubFormat GUID(16)
		if len(b) < 40 || int(le.Uint16(b[16:18])) < 22 {
			return nil, 0, fmt.Errorf("%w: WAVE_FORMAT_EXTENSIBLE fmt chunk too short", ErrNotWAV)
		}
		if !bytes.Equal(b[26:40], ksdataformatSubtypeTail[:]) {
			return nil, 0, fmt.Errorf("%w: WAVE_FORMAT_EXTENSIBLE with a non-standard sub-format", ErrUnsupported)
		}
		tag = le.Uint16(b[24:26])
	}
	var format string
	switch {
	case tag == tagPCM && bitsPer == 16:
		format = FormatPCM16
	case tag == tagMulaw && bitsPer == 8:
		format = FormatMulaw
	case tag == tagAlaw && bitsPer == 8:
		format = FormatAlaw
	default:
		return nil, 0, fmt.Errorf("%w: format tag %#04x with %d bits per sample (want PCM 16-bit, μ-law or A-law)", ErrUnsupported, tag, bitsPer)
	}
	if channels != 1 {
		return nil, 0, fmt.Errorf("%w: %d channels (want mono)", ErrUnsupported, channels)
	}
	if rate != SampleRate {
		return nil, 0, fmt.Errorf("%w: %d Hz (want %d Hz)", ErrUnsupported, rate, SampleRate)
	}
	if want := bitsPer / 8; blockAlign != want {
		return nil, 0, fmt.Errorf("%w: block align %d for %s (want %d)", ErrNotWAV, blockAlign, format, want)
	}
	return &WAV{SampleRate: rate, Channels: channels, Format: format}, blockAlign, nil
}

// readData reads a data chunk of the declared size, or up to EOF when the
// header lies (size 0 or 0xFFFFFFFF from streaming recorders, or a
// truncated file). Memory grows with the bytes actually present, never with
// the declared size.
func readData(r io.Reader, size int64, blockB int) ([]byte, error) {
	limit := int64(maxSamples * blockB)
	if size == 0 || size == 0xFFFFFFFF || size > limit {
		size = limit
	}
	data, err := io.ReadAll(io.LimitReader(r, size))
	if err != nil {
		return nil, fmt.Errorf("audio: read data chunk: %w", err)
	}
	return data[:len(data)-len(data)%blockB], nil
}

func decodeData(data []byte, format string) []int16 {
	switch format {
	case FormatMulaw:
		return DecodeMulaw(nil, data)
	case FormatAlaw:
		return DecodeAlaw(nil, data)
	}
	s := make([]int16, len(data)/2)
	for i := range s {
		s[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
	}
	return s
}

// WriteWAV writes samples as a mono WAV file at rate Hz in format "pcm16",
// "mulaw" or "alaw" (ReadWAV reads back only 8000 Hz). G.711 files carry
// the 18-byte fmt chunk and the fact chunk that non-PCM WAVs require.
func WriteWAV(w io.Writer, samples []int16, rate int, format string) error {
	var (
		tag   uint16
		bits  uint16
		data  []byte
		isPCM bool
	)
	switch format {
	case FormatPCM16:
		tag, bits, isPCM = tagPCM, 16, true
		data = make([]byte, 2*len(samples))
		for i, s := range samples {
			binary.LittleEndian.PutUint16(data[2*i:], uint16(s))
		}
	case FormatMulaw:
		tag, bits = tagMulaw, 8
		data = EncodeMulaw(make([]byte, 0, len(samples)), samples)
	case FormatAlaw:
		tag, bits = tagAlaw, 8
		data = EncodeAlaw(make([]byte, 0, len(samples)), samples)
	default:
		return fmt.Errorf("%w: cannot write format %q", ErrUnsupported, format)
	}
	if rate <= 0 {
		return fmt.Errorf("audio: write WAV: sample rate %d", rate)
	}
	if uint64(len(data)) > 0xFFFFFFFF-64 {
		return fmt.Errorf("audio: write WAV: %d bytes of audio exceed the RIFF size limit", len(data))
	}
	blockAlign := bits / 8
	var b bytes.Buffer
	le := binary.LittleEndian
	put32 := func(v uint32) { b.Write(le.AppendUint32(nil, v)) }
	put16 := func(v uint16) { b.Write(le.AppendUint16(nil, v)) }
	fmtSize, extra := uint32(16), 0
	if !isPCM {
		fmtSize, extra = 18, 12 // cbSize + fact chunk
	}
	pad := len(data) & 1
	b.WriteString("RIFF")
	put32(uint32(4 + 8 + int(fmtSize) + extra + 8 + len(data) + pad))
	b.WriteString("WAVEfmt ")
	put32(fmtSize)
	put16(tag)
	put16(1)
	put32(uint32(rate))
	put32(uint32(rate) * uint32(blockAlign))
	put16(blockAlign)
	put16(bits)
	if !isPCM {
		put16(0)
		b.WriteString("fact")
		put32(4)
		put32(uint32(len(samples)))
	}
	b.WriteString("data")
	put32(uint32(len(data)))
	b.Write(data)
	if pad == 1 {
		b.WriteByte(0)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("audio: write WAV: %w", err)
	}
	return nil
}
