module github.com/mobilitycorp/platform/services/payments

go 1.26.0

require github.com/mobilitycorp/platform/pkg v0.0.0

replace github.com/mobilitycorp/platform/pkg => ../../pkg
