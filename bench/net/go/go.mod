module gortnetbench

go 1.26
