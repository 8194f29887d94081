#include "textflag.h"

// func lineForRead(addr unsafe.Pointer)
TEXT ·lineForRead(SB), NOSPLIT|NOFRAME, $0-8
	MOVD addr+0(FP), R0
	PRFM (R0), PLDL1KEEP
	RET

// func lineForWrite(addr unsafe.Pointer)
TEXT ·lineForWrite(SB), NOSPLIT|NOFRAME, $0-8
	MOVD addr+0(FP), R0
	PRFM (R0), PSTL1KEEP
	RET
