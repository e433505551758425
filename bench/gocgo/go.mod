module gortbench/cgo

go 1.23
